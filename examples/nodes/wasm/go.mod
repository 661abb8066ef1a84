module atomiton.dev/examples/wasm-textops

go 1.24
