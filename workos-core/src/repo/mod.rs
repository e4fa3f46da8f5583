//! Repository traits: the tenant-scoped storage API every backend implements.
//!
//! Every method takes a [`TenantContext`](crate::tenant::TenantContext); the org comes from
//! it, never from input, and the actor's role is checked against the
//! [`Access`](crate::tenant::Access) the method needs. A record of another org reads as
//! [`Error::NotFound`](crate::Error::NotFound), never as forbidden. Every write also appends
//! its domain event in the same transaction.
//!
//! The only methods without a context are in [`Directory`]: the lookups that *establish* a
//! tenant (an API key by prefix, a membership, an inbound phone number) and org creation.

mod comms;
mod crm;
mod email;
mod events;
mod idempotency;
mod integrations;
mod leads;
mod opt_outs;
mod org;
mod search;
mod subnets;
mod timeline;
mod webhooks;

pub use comms::*;
pub use crm::*;
pub use email::*;
pub use events::*;
pub use idempotency::*;
pub use integrations::*;
pub use leads::*;
pub use opt_outs::*;
pub use org::*;
pub use search::*;
pub use subnets::*;
pub use timeline::*;
pub use webhooks::*;

/// Declares [`Store`] as the sum of `$repo`s and implements it for every type that has them
/// all, so the list is written once.
macro_rules! store_trait {
    ($($repo:path),+ $(,)?) => {
        /// Everything a storage backend provides; what the engine and the reference server hold.
        pub trait Store: $($repo +)+ {}

        impl<T> Store for T where T: $($repo +)+ {}
    };
}

store_trait!(
    Directory,
    OrgRepo,
    MemberRepo,
    ApiKeyRepo,
    PhoneRepo,
    CompanyRepo,
    PersonRepo,
    DealRepo,
    TaskRepo,
    InteractionRepo,
    TimelineRepo,
    SearchRepo,
    ContactLookup,
    EventRepo,
    IdempotencyRepo,
    WebhookRepo,
    DeliveryQueue,
    CommsRepo,
    IntegrationRepo,
    IntegrationScheduler,
    OAuthStateRepo,
    EmailRepo,
    LeadRepo,
    PartnerRepo,
    LeadDeliveryRepo,
    RoutingRepo,
    LeadFormRepo,
    LeadDeliveryQueue,
    OptOutRepo,
    CallSettingsRepo,
    SubnetAllowanceRepo,
    crate::events::EventLog,
    crate::events::EventBus,
);
