//! The CRM records' repositories (one trait per record, from one declaration), and finding
//! people by their contact details.

use async_trait::async_trait;

use crate::domain::{
    Company, CompanyFilter, CompanyPatch, Deal, DealFilter, DealPatch, E164, EmailAddress,
    Interaction, InteractionFilter, InteractionPatch, NewCompany, NewDeal, NewInteraction,
    NewPerson, NewTask, Person, PersonFilter, PersonPatch, Task, TaskFilter, TaskPatch,
};
use crate::error::Result;
use crate::ids::{CompanyId, DealId, InteractionId, PersonId, TaskId};
use crate::page::{Page, PageRequest};
use crate::tenant::TenantContext;

/// Declares a CRM repository trait: create, get, list with a filter, patch, soft delete.
macro_rules! crm_repo {
    ($(#[$doc:meta])* $trait:ident, $entity:ident, $id:ident, $new:ident, $patch:ident, $filter:ident,
     $create:ident, $get:ident, $list:ident, $update:ident, $delete:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "testing", mockall::automock)]
        #[async_trait]
        pub trait $trait: Send + Sync {
            #[doc = concat!("Creates a ", stringify!($entity), " (member role). Emits its `.created` event.")]
            ///
            /// # Errors
            /// [`crate::Error::Validation`] naming each bad field; [`crate::Error::Conflict`] on a
            /// taken unique value; [`crate::Error::NotFound`] when a referenced record is not in
            /// the org; [`crate::Error::Forbidden`].
            async fn $create(&self, ctx: &TenantContext, new: $new) -> Result<$entity>;

            #[doc = concat!("One ", stringify!($entity), ".")]
            ///
            /// # Errors
            /// [`crate::Error::NotFound`] when absent, deleted, or of another org.
            async fn $get(&self, ctx: &TenantContext, id: $id) -> Result<$entity>;

            #[doc = concat!("A page of ", stringify!($entity), " records matching the filter, in id order.")]
            ///
            /// # Errors
            /// [`crate::Error::Unavailable`] when the storage fails.
            async fn $list(&self, ctx: &TenantContext, filter: $filter, page: PageRequest) -> Result<Page<$entity>>;

            #[doc = concat!("Applies a patch (member role). Emits `.updated` when anything changed.")]
            ///
            /// # Errors
            /// As for creation, and [`crate::Error::NotFound`] for the record itself.
            async fn $update(&self, ctx: &TenantContext, id: $id, patch: $patch) -> Result<$entity>;

            #[doc = concat!("Soft-deletes (member role); it then reads as not found. Emits `.deleted`.")]
            ///
            /// # Errors
            /// [`crate::Error::NotFound`]; [`crate::Error::Forbidden`].
            async fn $delete(&self, ctx: &TenantContext, id: $id) -> Result<()>;
        }
    };
}

crm_repo!(
    /// Companies.
    CompanyRepo, Company, CompanyId, NewCompany, CompanyPatch, CompanyFilter,
    create_company, get_company, list_companies, update_company, delete_company
);
crm_repo!(
    /// People. Emails and phones, primary or additional, are unique within the org.
    PersonRepo, Person, PersonId, NewPerson, PersonPatch, PersonFilter,
    create_person, get_person, list_people, update_person, delete_person
);
crm_repo!(
    /// Deals.
    DealRepo, Deal, DealId, NewDeal, DealPatch, DealFilter,
    create_deal, get_deal, list_deals, update_deal, delete_deal
);
crm_repo!(
    /// Tasks.
    TaskRepo, Task, TaskId, NewTask, TaskPatch, TaskFilter,
    create_task, get_task, list_tasks, update_task, delete_task
);
crm_repo!(
    /// Interactions (timeline entries).
    InteractionRepo, Interaction, InteractionId, NewInteraction, InteractionPatch, InteractionFilter,
    create_interaction, get_interaction, list_interactions, update_interaction, delete_interaction
);

/// Finding people by contact details, as channels do for inbound messages.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ContactLookup: Send + Sync {
    /// The person with this email, primary or additional, case-insensitively.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn person_by_email(
        &self,
        ctx: &TenantContext,
        email: &EmailAddress,
    ) -> Result<Option<Person>>;

    /// The person with this phone, primary or additional.
    ///
    /// # Errors
    /// [`crate::Error::Unavailable`] when the storage fails.
    async fn person_by_phone(&self, ctx: &TenantContext, phone: &E164) -> Result<Option<Person>>;
}
