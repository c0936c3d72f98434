package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"

	"cairn.dev/cairn/registry/storage"
)

// AdminUser is the name of the administrator Bootstrap creates.
const AdminUser = "admin"

// Bootstrap is how the first administrator comes to exist.
type Bootstrap struct {
	// Password, when not empty, is the administrator's password (from
	// CAIRN_ADMIN_PASSWORD).
	Password string
	// CredentialFile is where a generated password is written (mode 0600)
	// when Password is empty.
	CredentialFile string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Cost is the bcrypt cost (default BcryptCost).
	Cost int
}

// BootstrapResult says what Ensure did.
type BootstrapResult struct {
	// Created is set when the administrator was created now.
	Created bool
	// File is the credential file written, if any.
	File string
}

// Ensure creates the user admin, with admin on "**", when the store has no
// user at all; otherwise it does nothing. The password is b.Password, or
// else a random one (192 bits) written to b.CredentialFile for the operator
// to read once, log in with, change and delete.
func (b Bootstrap) Ensure(ctx context.Context, accounts storage.Accounts) (BootstrapResult, error) {
	users, err := accounts.Users(ctx)
	if err != nil || len(users) > 0 {
		return BootstrapResult{}, err
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	password := b.Password
	var res BootstrapResult
	if password == "" {
		if b.CredentialFile == "" {
			return res, errors.New("auth: no administrator password and no file to write one to")
		}
		var raw [24]byte
		rand.Read(raw[:])
		password = base64.RawURLEncoding.EncodeToString(raw[:])
		os.Remove(b.CredentialFile)
		f, err := os.OpenFile(b.CredentialFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return res, fmt.Errorf("auth: write the administrator credential: %w", err)
		}
		_, err = fmt.Fprintf(f, "# cairn: the administrator's one-time credential, written at the first start with auth.\n"+
			"# Log in with it (cairn login HOST -u admin), set a new password (cairn user passwd admin),\n"+
			"# then delete this file.\nusername: %s\npassword: %s\n", AdminUser, password)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(b.CredentialFile)
			return res, fmt.Errorf("auth: write the administrator credential: %w", err)
		}
		res.File = b.CredentialFile
	}
	hash, err := hashPassword(password, b.Cost)
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("auth: administrator password: %w", err)
	}
	t := now().UTC()
	err = accounts.CreateUser(ctx, storage.User{Name: AdminUser, PasswordHash: hash, Created: t, PasswordChanged: t})
	if errors.Is(err, storage.ErrUserExists) {
		// Another node bootstrapped first.
		if res.File != "" {
			os.Remove(res.File)
		}
		return BootstrapResult{}, nil
	}
	if err == nil {
		err = accounts.PutGrant(ctx, storage.Grant{User: AdminUser, Pattern: "**", Role: storage.RoleAdmin, Created: t, By: "bootstrap"})
		if err != nil {
			accounts.DeleteUser(ctx, AdminUser) // so that the next start tries again
		}
	}
	if err != nil {
		if res.File != "" {
			os.Remove(res.File)
		}
		return BootstrapResult{}, fmt.Errorf("auth: create the administrator: %w", err)
	}
	res.Created = true
	return res, nil
}
