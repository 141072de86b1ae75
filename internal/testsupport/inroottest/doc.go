// Package inroottest runs tests of the current test binary again as an
// unprivileged user, so backends built on inroot are checked both as root
// and as an ordinary user, and makes root-only tests skip or, under
// GUESTINJECT_E2E=1, fail.
package inroottest
