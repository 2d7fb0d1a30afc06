package webhooks_test

import "github.com/shopflow/orders/domain/webhook"

type postgresDeliveryFilter = webhook.DeliveryFilter
