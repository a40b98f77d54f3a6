// Command critlinectl is the field engineer's tool. Online verbs (status,
// sim ...) talk to critlined over its control socket; offline verbs (config
// check, test board, firmware) work without the daemon. Exit codes: 0 ok,
// 1 failure, 2 usage.
package main
