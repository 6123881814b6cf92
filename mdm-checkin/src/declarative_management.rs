//! `DeclarativeManagement`: what the schema cannot say about it (the type is generated).

use crate::DeclarativeManagement;

impl DeclarativeManagement {
    /// For a `declaration/<type>/<identifier>` endpoint, its type and identifier.
    pub fn declaration(&self) -> Option<(&str, &str)> {
        self.endpoint.strip_prefix("declaration/")?.split_once('/')
    }
}
