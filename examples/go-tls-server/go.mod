module esr.example/go-tls-server

go 1.19
