// Command pool mirrors Python's multiprocessing.Pool.map:
//
//	def f(x): return x * x
//	with Pool(4) as p:
//	    print(p.map(f, range(10)))
//
// The task is registered by name at init (the workers are fresh copies of
// this program), Map returns the results in input order, and int64s travel
// raw through the workers' rings.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/proc"
)

func init() {
	proc.RegisterTaskOf("f", func(_ context.Context, x int64) (int64, error) { return x * x, nil })
}

func main() {
	proc.Main()
	ctx := context.Background()
	p, err := proc.NewPoolOf[int64, int64](ctx, "f", &proc.PoolOptions{Workers: 4})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	in := make([]int64, 10)
	for i := range in {
		in[i] = int64(i)
	}
	out, err := p.Map(ctx, in)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out)

	// A bigger map: many small tasks, spread over the workers in chunks.
	big := make([]int64, 100000)
	for i := range big {
		big[i] = int64(i)
	}
	res, err := p.Map(ctx, big)
	if err != nil {
		log.Fatal(err)
	}
	sum := int64(0)
	for i, v := range res {
		if v != int64(i)*int64(i) {
			log.Fatalf("result %d = %d", i, v)
		}
		sum += v
	}
	fmt.Printf("sum of %d squares: %d\n", len(res), sum)
}
