module github.com/crashsim/crashsim/bench

go 1.26

require github.com/crashsim/crashsim v0.0.0

replace github.com/crashsim/crashsim => ../
