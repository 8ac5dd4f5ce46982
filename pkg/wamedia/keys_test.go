package wamedia

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// The public vector of the key expansion (docs/MEDIA.md).
func TestExpandKeysVector(t *testing.T) {
	mk, _ := base64.StdEncoding.DecodeString("e8B+WuJ1zCsizk9ANpxYJ5zPw1B/GI0H/ELZAiHpGko=")
	k, err := ExpandKeys(mk, ClassImage)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"iv", hex.EncodeToString(k.IV[:]), "a2119aed4a2afefa0afcab6b1b00805d"},
		{"cipherKey", hex.EncodeToString(k.CipherKey[:]), "e00fd55d5413eb9f46582fcce544baf5c70b4e8e7af97cfc01aede2a88a19c49"},
		{"macKey", hex.EncodeToString(k.MACKey[:]), "ecb017218c52d6e2adbcde818cacfcfc6cdefdf810555ce0e2bb082b4b9c1de1"},
		{"refKey", hex.EncodeToString(k.RefKey[:]), "48431f654dd4489e8ca6c0bec4ba442ffed1df68e92e0b93db444eae82a893e0"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	// The same media: a 25,241-byte plain file makes a 25,258-byte blob.
	if got := BlobSize(25241); got != 25258 {
		t.Errorf("BlobSize(25241) = %d, want 25258", got)
	}
}

func TestExpandKeysClassesDiffer(t *testing.T) {
	mk := GenerateMediaKey()
	seen := map[[32]byte]Class{}
	for _, c := range []Class{ClassImage, ClassVideo, ClassAudio, ClassDocument} {
		k, err := ExpandKeys(mk, c)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[k.CipherKey]; dup {
			t.Errorf("classes %s and %s give the same key", prev, c)
		}
		seen[k.CipherKey] = c
	}
}

func TestExpandKeysErrors(t *testing.T) {
	if _, err := ExpandKeys(make([]byte, 31), ClassImage); err == nil {
		t.Error("31-byte key accepted")
	}
	if _, err := ExpandKeys(make([]byte, 32), Class("sticker")); err == nil {
		t.Error("unknown class accepted")
	}
}

func TestGenerateMediaKey(t *testing.T) {
	a, b := GenerateMediaKey(), GenerateMediaKey()
	if len(a) != 32 || len(b) != 32 || string(a) == string(b) {
		t.Fatalf("bad keys %x %x", a, b)
	}
}

func TestBlobSize(t *testing.T) {
	for plain, want := range map[int64]int64{0: 26, 1: 26, 15: 26, 16: 42, 17: 42, 4095: 4106, 4096: 4122} {
		if got := BlobSize(plain); got != want {
			t.Errorf("BlobSize(%d) = %d, want %d", plain, got, want)
		}
	}
}
