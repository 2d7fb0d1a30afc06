# The orders binary in a small image. Built by docker-compose.yml (docker compose build).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/orders ./cmd/orders

FROM alpine:3.22
RUN adduser -D -u 10001 orders
USER orders
COPY --from=build /out/orders /usr/local/bin/orders
ENTRYPOINT ["orders"]
