//! `MessageType`: which check-in a body is.

mdm_proto::open_enum! {
    /// The `MessageType` of a check-in, as Apple's schema lists them.
    pub enum MessageType {
        /// The first message of an enrollment ([`Authenticate`](crate::Authenticate)).
        Authenticate = "Authenticate",
        /// A new push token for a channel ([`TokenUpdate`](crate::TokenUpdate)).
        TokenUpdate = "TokenUpdate",
        /// The MDM profile was removed ([`CheckOut`](crate::CheckOut)).
        CheckOut = "CheckOut",
        /// A macOS network or mobile user logs in ([`UserAuthenticate`](crate::UserAuthenticate)).
        UserAuthenticate = "UserAuthenticate",
        /// The Mac asks for its escrowed bootstrap token ([`GetBootstrapToken`](crate::GetBootstrapToken)).
        GetBootstrapToken = "GetBootstrapToken",
        /// The Mac escrows its bootstrap token ([`SetBootstrapToken`](crate::SetBootstrapToken)).
        SetBootstrapToken = "SetBootstrapToken",
        /// A Declarative Device Management request ([`DeclarativeManagement`](crate::DeclarativeManagement)).
        DeclarativeManagement = "DeclarativeManagement",
        /// The device asks for a service token ([`GetToken`](crate::GetToken)).
        GetToken = "GetToken",
        /// A supervised ADE device asks for its return-to-service configuration
        /// ([`ReturnToService`](crate::ReturnToService)).
        ReturnToService = "ReturnToService",
    }
}
