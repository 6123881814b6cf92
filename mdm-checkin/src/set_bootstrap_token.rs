//! `SetBootstrapToken`: what the schema cannot say about it (the type is generated).

use crate::SetBootstrapToken;

impl SetBootstrapToken {
    /// True when the message asks the server to delete the escrowed token: a missing or
    /// empty `BootstrapToken` does (the server answers with an empty 200 either way).
    pub fn removes_token(&self) -> bool {
        self.bootstrap_token.as_ref().is_none_or(|t| t.0.is_empty())
    }
}
