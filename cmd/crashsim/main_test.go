package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, exitUsageErr},
		{[]string{"nonsense"}, exitUsageErr},
		{[]string{"help"}, exitOK},
		{[]string{"demo", "--help"}, exitUsageErr},
		{[]string{"demo", "extra"}, exitUsageErr},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.code {
			t.Errorf("crashsim %v: exit %d, want %d\n%s", c.args, code, c.code, errb.String())
		}
		if c.code == exitUsageErr && !strings.Contains(errb.String(), "usage") {
			t.Errorf("crashsim %v: no usage on stderr: %q", c.args, errb.String())
		}
	}
}
