module chatlab

go 1.26.0

// The children's wake-up cost rests on how this runtime schedules
// (solutions/fdio, handouts/bench.md): make bench-wakeup after a change.
toolchain go1.26.8

require golang.org/x/sys v0.49.0

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
