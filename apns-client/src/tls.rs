//! rustls glue shared by the client and the mock.

use rustls::pki_types::PrivateKeyDer;

use crate::{KeyFormat, PrivateKey};

/// The key in the form rustls takes.
pub(crate) fn rustls_key(key: &PrivateKey) -> PrivateKeyDer<'static> {
    let der = key.der().to_vec();
    match key.format() {
        KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(der.into()),
        KeyFormat::Sec1 => PrivateKeyDer::Sec1(der.into()),
        _ => PrivateKeyDer::Pkcs8(der.into()),
    }
}
