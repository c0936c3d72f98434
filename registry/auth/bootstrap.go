package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
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

// EnsureLogged is Ensure, telling the operator through log what it did and
// what to do: read, use and delete a generated credential file, or delete
// one still there from an earlier start.
func (b Bootstrap) EnsureLogged(ctx context.Context, accounts storage.Accounts, log *slog.Logger) error {
	res, err := b.Ensure(ctx, accounts)
	if err != nil {
		return err
	}
	switch {
	case res.Created && res.File != "":
		log.Warn("created the administrator; its one-time credential is in a file readable only by this user: log in, change the password, delete the file",
			"user", AdminUser, "file", res.File)
	case res.Created:
		log.Info("created the administrator with the password in CAIRN_ADMIN_PASSWORD", "user", AdminUser)
	case b.CredentialFile != "":
		if _, err := os.Stat(b.CredentialFile); err == nil {
			log.Warn("the one-time administrator credential file is still there: delete it once the password is changed", "file", b.CredentialFile)
		}
	}
	return nil
}
