#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod admin;
pub mod apns;
pub mod app;
pub mod backstop;
pub mod command;
pub mod device;
pub mod escrow;
pub mod events;
pub mod http;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod pki;
pub mod problem;
pub mod push;
pub mod queue;
pub mod refusals;
pub mod retention;
pub mod secrets;
pub mod serve;
pub mod service;
pub mod state;
pub mod storage;
#[cfg(feature = "tls")]
pub mod tls;
pub mod webhook;

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the corpus replay test: the server's own wrappers around the
    //! libraries' parsers (the fuzz targets call the libraries directly).

    use mdm_proto::Limits;

    /// Decodes a device body as both endpoints would, and as an admin command plist.
    pub fn device_body(data: &[u8]) {
        let _ = crate::device::decode(data, crate::device::Endpoint::Server, &Limits::MDM);
        let _ = crate::device::decode(data, crate::device::Endpoint::Checkin, &Limits::MDM);
        let _ = crate::command::RawCommand::from_plist(data, &Limits::MDM);
    }

    /// Reads a declaration as `PUT /v1/enrollments/{id}/declarations` does.
    pub fn declaration(data: &[u8]) {
        let _ = crate::service::ddm::parse_declaration(data);
    }

    /// Reads PEM blocks and the APNs topic of a certificate, as `PUT /v1/pushcert` does.
    pub fn push_cert(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = crate::admin::pem_blocks(text);
            let _ = crate::apns::load_push_identity(text, text);
        }
    }
}
