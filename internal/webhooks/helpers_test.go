package webhooks_test

import "github.com/shopflow/orders/internal/postgres"

type postgresDeliveryFilter = postgres.DeliveryFilter
