module github.com/crashsim/crashsim/bench

go 1.26.0

require github.com/crashsim/crashsim v0.0.0

require (
	github.com/edsrzf/mmap-go v1.2.0 // indirect
	github.com/gofrs/flock v0.13.1 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/crashsim/crashsim => ../
