// Package natsserver runs an embedded NATS server with JetStream for `orders run`, so one
// process needs nothing but PostgreSQL.
package natsserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config says where the embedded server keeps its data and whether it listens.
type Config struct {
	// StoreDir holds JetStream's file storage; it survives restarts.
	StoreDir string
	// Listen is a host:port to accept other processes on; empty means in-process only.
	Listen string
}

// Server is a running embedded server.
type Server struct {
	ns *server.Server
}

// Start starts the server and waits until it accepts connections. Every JetStream write is
// synced to disk before it is acknowledged (SyncAlways): a 202 must survive a power loss.
func Start(cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	opts := &server.Options{
		ServerName: "orders-embedded",
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      true,
		DontListen: cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, err
		}
		if port == 0 { // "any free port"; to nats-server 0 means its default, 4222
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("natsserver: not ready within 30s (is the store directory locked by another process?)")
	}
	return &Server{ns: ns}, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("natsserver: listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("natsserver: listen address %q: bad port", addr)
	}
	return host, port, nil
}

// ConnectOption returns the option that connects a client to this server in process.
func (s *Server) ConnectOption() nats.Option { return nats.InProcessServer(s.ns) }

// ClientURL returns the address other processes use, or "" when it does not listen.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
