package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTransliterationKeyGroups(t *testing.T) {
	groups := map[string][]string{
		"mahamad":   {"Mohammed", "Muhammad", "Mohamed", "Muhammed", "Mohammad", "Mohamad", "MUHAMMAD"},
		"yasaf":     {"Youssef", "Yusuf", "Yousef", "Yousuf", "Youcef", "Yossef"},
		"fatama":    {"Fatima", "Fatimah", "Fatemeh", "Fatimeh"},
		"abdrahman": {"Abdul Rahman", "Abdulrahman", "Abd al-Rahman", "Abdel Rahman", "Abdur Rahman", "Abd Al Rahman", "Abdelrahman"},
		"abdla":     {"Abdullah", "Abdallah", "Abdulla", "Abd Allah"},
		"ahmad":     {"Ahmed", "Ahmad"},
		"hasan":     {"Hussein", "Husain", "Hussain", "Hosein"},
		"asha":      {"Aisha", "Aysha", "Aicha", "Aischa"},
		"kasam":     {"Qasim", "Kasim", "Qassem"},
		"alamara":   {"Al Amiri", "Al-Amiri", "Alamiri", "El Amiri", "el-Ameri"},
		"mastafa":   {"Mustafa", "Moustafa", "Mostafa", "Mustapha"},
		"mahmad":    {"Mahmoud", "Mahmud", "Mahmood"},
	}
	for want, names := range groups {
		for _, n := range names {
			require.Equal(t, want, TransliterationKey(n), "%q", n)
		}
	}
}

// TestTransliterationKeyCollides pins down collisions the documentation
// warns about, so that a change to them is a decision.
func TestTransliterationKeyCollides(t *testing.T) {
	require.Equal(t, TransliterationKey("Hassan"), TransliterationKey("Hussein"))
	require.Equal(t, TransliterationKey("Hamid"), TransliterationKey("Hamad"))
	require.NotEqual(t, TransliterationKey("Mohammed"), TransliterationKey("Mahmoud"))
	require.NotEqual(t, TransliterationKey("Omar"), TransliterationKey("Amr"))
}

func TestTransliterationKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"full name", "Mohammed Al Amiri", "mahamad alamara"},
		{"arabic script unchanged", "محمد العامري", "محمد العامري"},
		{"mixed scripts", "Mohammed محمد", "mahamad محمد"},
		{"digits kept", "Sara 2", "sara 2"},
		{"y at the start is a consonant", "Yasmin", "yasman"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, TransliterationKey(tt.in))
		})
	}
}
