"""Scripts and clients the store's crash, fault and concurrency tests run in real child processes."""
