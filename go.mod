module github.com/crashsim/crashsim

go 1.26.0

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/dvyukov/go-fuzz v0.0.0-20220726122315-1d375ef9f9f6
	github.com/edsrzf/mmap-go v1.2.0
	github.com/gofrs/flock v0.13.1
	golang.org/x/sys v0.49.0
	pgregory.net/rapid v1.3.0
)
