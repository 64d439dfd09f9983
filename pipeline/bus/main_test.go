package bus

import (
	"testing"

	"github.com/crmhub/crmhub/store/storetest"
)

// TestMain stops the PostgreSQL server storetest starts for this package.
func TestMain(m *testing.M) { storetest.Main(m) }
