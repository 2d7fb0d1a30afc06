package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

type config struct {
	url, key, adminKey string
	rate               float64 // orders per second; 0 = as fast as possible
	concurrency        int
	duration           time.Duration
	orders             int
	skus               int
	stock              int
	skew               float64 // Zipf exponent for SKU popularity; 0 = uniform
	declineRatio       float64
	timeout            time.Duration
	settleWait         time.Duration
	json               bool
	verify             bool
	databaseURL        string
	seed               uint64
	prefix             string // Idempotency-Key and customer prefix: runs do not collide
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the orders API")
	c.key, c.adminKey = getenv("LOADGEN_KEY"), getenv("LOADGEN_ADMIN_KEY")
	fs.Float64Var(&c.rate, "rate", 0, "orders per second (constant rate); 0 places them as fast as the concurrency allows")
	fs.IntVar(&c.concurrency, "concurrency", 64, "requests in flight at most")
	fs.DurationVar(&c.duration, "duration", 0, "how long to place orders (or use -orders)")
	fs.IntVar(&c.orders, "orders", 0, "how many orders to place (or use -duration)")
	fs.IntVar(&c.skus, "skus", 50, "SKUs to stock and order from")
	fs.IntVar(&c.stock, "stock", 1_000_000, "units of each SKU to stock before the run (0: leave stock as it is)")
	fs.Float64Var(&c.skew, "skew", 1.1, "SKU popularity: Zipf exponent (> 1), 0 for uniform")
	fs.Float64Var(&c.declineRatio, "decline-ratio", 0.1, "share of orders paid with tok_chargeDeclined")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per request")
	fs.DurationVar(&c.settleWait, "settle-wait", 2*time.Minute, "how long to wait for accepted orders to settle")
	fs.BoolVar(&c.json, "json", false, "print the summary as JSON")
	fs.BoolVar(&c.verify, "verify", false, "check invariants after the run (needs LOADGEN_DATABASE_URL for the gateway record)")
	fs.Uint64Var(&c.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	fs.StringVar(&c.prefix, "prefix", fmt.Sprintf("lg%d", time.Now().UnixNano()), "Idempotency-Key prefix")
	c.databaseURL = getenv("LOADGEN_DATABASE_URL")
	if err := fs.Parse(args); err != nil {
		return config{}, usageError(err.Error())
	}
	var errs []error
	if c.key == "" || c.adminKey == "" {
		errs = append(errs, errors.New("LOADGEN_KEY (a storefront key) and LOADGEN_ADMIN_KEY (an admin key) must be set; keys are not flags, which show in ps"))
	}
	if (c.duration > 0) == (c.orders > 0) {
		errs = append(errs, errors.New("give exactly one of -duration and -orders"))
	}
	if c.concurrency < 1 || c.skus < 1 || c.rate < 0 || c.declineRatio < 0 || c.declineRatio > 1 || (c.skew != 0 && c.skew <= 1) {
		errs = append(errs, errors.New("-concurrency and -skus ≥ 1, -rate ≥ 0, -decline-ratio in [0,1], -skew 0 or > 1"))
	}
	if c.verify && c.databaseURL == "" {
		errs = append(errs, errors.New("-verify needs LOADGEN_DATABASE_URL (the orders database) to read the gateway's record"))
	}
	c.url = strings.TrimRight(c.url, "/")
	if err := errors.Join(errs...); err != nil {
		return config{}, usageError(err.Error())
	}
	return c, nil
}
