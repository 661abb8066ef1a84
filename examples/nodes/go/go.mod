module atomiton.dev/examples/go-textnodes

go 1.24

require atomiton.dev/sdk v0.0.0

replace atomiton.dev/sdk => ../../../workers/go
