package models_test

import (
	"fmt"
	"time"

	"github.com/crashsim/crashsim/models"
)

// The package doc's first example: the prefix property of one client's
// log.
func ExampleNewPrefix() {
	recoveredRecords := [][]byte{[]byte("a")}

	p := models.NewPrefix(models.Log())
	p.Invoke(models.LogAppend{Record: []byte("a")}) // as the workload calls Append
	p.DurableAll()                                  // as its Sync returns
	v := p.Check(recoveredRecords)                  // after recovery of a crash image
	fmt.Println(v)                                  // ok: state after 1 of 1 operations (1 durable)

	// A recovery that lost the durable record is a violation.
	fmt.Println(p.Check([][]byte(nil)).Problem)
	// Output:
	// ok: state after 1 of 1 operations (1 durable)
	// acknowledged operations lost: recovered the state after 0 operations, but 1 were acknowledged durable (lost: #1 append("a"))
}

// The package doc's second example: durable linearizability of a history
// of concurrent clients.
func ExampleCheckDurable() {
	client := 1
	recoveredMap := map[string]string{"k": "v"}

	h := models.NewHistory()
	id := h.Call(client, models.KVPut{Key: "k", Value: "v"})
	h.Return(id, nil)
	lv := models.CheckDurable(models.KV(), h, recoveredMap, false, time.Second)
	fmt.Println(lv.Result) // Ok

	// The put returned before the crash: a state without it is illegal.
	fmt.Println(models.CheckDurable(models.KV(), h, map[string]string{}, false, time.Second).Result)
	// Output:
	// Ok
	// Illegal
}
