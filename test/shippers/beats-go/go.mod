module sluice/test/shippers/beats-go

go 1.26.0

require github.com/elastic/go-lumber v0.1.2-0.20220819171948-335fde24ea0f

require github.com/klauspost/compress v1.15.9 // indirect
