module atomiton.dev/sdk

go 1.24
