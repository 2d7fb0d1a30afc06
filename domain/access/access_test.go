package access_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/shopflow/orders/domain/access"
)

func TestGenerate(t *testing.T) {
	a, ka, err := access.Generate(rand.Reader, access.RoleStorefront, "shop-a")
	if err != nil {
		t.Fatal(err)
	}
	b, kb, err := access.Generate(rand.Reader, access.RoleStorefront, "shop-a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, access.KeyPrefix) || len(a) != len(access.KeyPrefix)+52 {
		t.Errorf("key %q: want %q and 52 base32 characters", a, access.KeyPrefix)
	}
	if a == b || ka.ID == kb.ID {
		t.Error("two generated keys or ids are equal")
	}
	sum := sha256.Sum256([]byte(a))
	if !bytes.Equal(ka.Hash, sum[:]) || bytes.Contains(ka.Hash, []byte(a)) {
		t.Error("stored hash is not the SHA-256 of the key")
	}
	if _, _, err := access.Generate(bytes.NewReader(nil), access.RoleAdmin, ""); err == nil {
		t.Error("Generate with an empty random source succeeded")
	}
}

func TestValidateSpec(t *testing.T) {
	for _, tc := range []struct {
		name       string
		role       access.Role
		storefront string
		ok         bool
	}{
		{"storefront key", access.RoleStorefront, "shop-a_1", true},
		{"admin key", access.RoleAdmin, "", true},
		{"storefront key without storefront", access.RoleStorefront, "", false},
		{"storefront name with upper case", access.RoleStorefront, "Shop", false},
		{"storefront name too long", access.RoleStorefront, strings.Repeat("a", 65), false},
		{"admin key with a storefront", access.RoleAdmin, "shop-a", false},
		{"unknown role", "root", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := access.ValidateSpec(tc.role, tc.storefront)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, access.ErrInvalidKeySpec)) {
				t.Errorf("ValidateSpec(%q, %q) = %v, want ok=%v", tc.role, tc.storefront, err, tc.ok)
			}
		})
	}
}

func TestParseBootstrap(t *testing.T) {
	const k1, k2 = "ordk_0123456789abcdef0123456789abcdef01", "ordk_fedcba9876543210fedcba9876543210ff"
	got, err := access.ParseBootstrap(" storefront:shop-a:" + k1 + ", ,admin::" + k2)
	if err != nil || len(got) != 2 || got[0].Storefront != "shop-a" || got[1].Role != access.RoleAdmin || got[1].Key != k2 {
		t.Fatalf("ParseBootstrap = %+v, %v", got, err)
	}
	for name, in := range map[string]string{
		"missing part": "storefront:" + k1,
		"short key":    "admin::ordk_short",
		"no prefix":    "admin::" + strings.Repeat("x", 40),
		"bad role":     "owner::" + k1,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := access.ParseBootstrap(in)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), "ordk_short") {
				t.Errorf("error %q repeats the key", err)
			}
		})
	}
	a, _ := access.FromPlaintext(k1, access.RoleStorefront, "shop-a")
	b, _ := access.FromPlaintext(k1, access.RoleStorefront, "shop-a")
	if a.ID != b.ID || a.ID == "" {
		t.Error("the same bootstrap key gets different ids")
	}
}

func TestPrincipal(t *testing.T) {
	shopA := access.Principal{Role: access.RoleStorefront, Storefront: "shop-a"}
	admin := access.Principal{Role: access.RoleAdmin}
	if !shopA.CanSee("shop-a") || shopA.CanSee("shop-b") || !admin.CanSee("shop-b") {
		t.Error("CanSee: a storefront sees only its own orders, an admin sees all")
	}
	if !shopA.Allows(access.RoleStorefront) || shopA.Allows(access.RoleAdmin) || admin.Allows(access.RoleStorefront) {
		t.Error("Allows: each role allows only itself")
	}
	if (access.Principal{}).CanSee("") {
		t.Error("the zero principal sees orders")
	}
}
