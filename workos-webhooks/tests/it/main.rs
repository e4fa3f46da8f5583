//! Integration tests of `workos-webhooks`, in one binary.

mod signing;
mod ssrf;
