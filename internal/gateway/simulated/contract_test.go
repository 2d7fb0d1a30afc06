package simulated_test

import (
	mathrand "math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/internal/gateway/gatewaytest"
	"github.com/shopflow/orders/internal/gateway/simulated"
	"github.com/shopflow/orders/internal/testenv"
)

func TestContract(t *testing.T) {
	// One database for every case: the suite gives each case orders of its own, and a
	// database per case would cost a migration each.
	pool := testenv.Pool(t)
	gatewaytest.Run(t, func(t *testing.T) payment.Gateway {
		return newGateway(t, pool, simulated.Config{})
	}, gatewaytest.Capabilities{Declines: true, Stateful: true})
}

// newGateway is a gateway on pool with a fixed seed, failing the test if New refuses cfg.
func newGateway(t testing.TB, pool *pgxpool.Pool, cfg simulated.Config) *simulated.Gateway {
	t.Helper()
	gw, err := simulated.New(pool, cfg, mathrand.New(mathrand.NewPCG(1, 2)))
	if err != nil {
		t.Fatalf("new simulated gateway: %v", err)
	}
	return gw
}
