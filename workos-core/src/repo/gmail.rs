//! Emails and integrations (connected accounts): traits owned by the Gmail work.
