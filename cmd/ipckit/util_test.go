package main

import "context"

func bg() context.Context { return context.Background() }
