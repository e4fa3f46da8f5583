//! Tasks, with their status and priority.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Patch, Timestamp, check_text};
use crate::error::{ValidationError, Validator};
use crate::ids::{CompanyId, DealId, OrgId, PersonId, TaskId, UserId};

string_enum! {
    /// A task's progress.
    #[non_exhaustive]
    TaskStatus, "status" {
        /// To do.
        Open = "open",
        /// Being worked on.
        InProgress = "in_progress",
        /// Finished.
        Done = "done",
        /// Dropped.
        Canceled = "canceled",
    }
}

string_enum! {
    /// A task's urgency.
    #[non_exhaustive]
    TaskPriority, "priority" {
        /// Whenever.
        Low = "low",
        /// The default.
        Normal = "normal",
        /// Soon.
        High = "high",
        /// Now.
        Urgent = "urgent",
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// The org it belongs to.
    pub org_id: OrgId,
    /// Title, 1–300 characters.
    pub title: String,
    /// Progress.
    pub status: TaskStatus,
    /// Urgency.
    pub priority: TaskPriority,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Who does it.
    pub assignee_id: Option<UserId>,
    /// The person it is about.
    pub person_id: Option<PersonId>,
    /// The company it is about.
    pub company_id: Option<CompanyId>,
    /// The deal it is about.
    pub deal_id: Option<DealId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Input for a new task.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// Title, 1–300 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 300,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub title: String,
    /// Progress; defaults to `open`.
    #[serde(default = "default_status")]
    pub status: TaskStatus,
    /// Urgency; defaults to `normal`.
    #[serde(default = "default_priority")]
    pub priority: TaskPriority,
    /// When it is due.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Who does it.
    #[serde(default)]
    pub assignee_id: Option<UserId>,
    /// The person it is about.
    #[serde(default)]
    pub person_id: Option<PersonId>,
    /// The company it is about.
    #[serde(default)]
    pub company_id: Option<CompanyId>,
    /// The deal it is about.
    #[serde(default)]
    pub deal_id: Option<DealId>,
}

const fn default_status() -> TaskStatus {
    TaskStatus::Open
}

const fn default_priority() -> TaskPriority {
    TaskPriority::Normal
}

/// A change to a task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    /// New title.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 300,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub title: Option<String>,
    /// New status.
    pub status: Option<TaskStatus>,
    /// New priority.
    pub priority: Option<TaskPriority>,
    /// New due time, or clear it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub due_at: Patch<Timestamp>,
    /// New assignee, or clear it.
    pub assignee_id: Patch<UserId>,
    /// New person, or clear it.
    pub person_id: Patch<PersonId>,
    /// New company, or clear it.
    pub company_id: Patch<CompanyId>,
    /// New deal, or clear it.
    pub deal_id: Patch<DealId>,
}

/// Narrows a list of tasks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFilter {
    /// With this status.
    pub status: Option<TaskStatus>,
    /// Assigned to this user.
    pub assignee_id: Option<UserId>,
    /// Due strictly before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// About this person.
    pub person_id: Option<PersonId>,
    /// About this company.
    pub company_id: Option<CompanyId>,
    /// About this deal.
    pub deal_id: Option<DealId>,
}

impl NewTask {
    /// An open, normal-priority task with nothing else set.
    pub fn titled(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            status: TaskStatus::Open,
            priority: TaskPriority::Normal,
            due_at: None,
            assignee_id: None,
            person_id: None,
            company_id: None,
            deal_id: None,
        }
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// A [`ValidationError`] naming each invalid field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "title", &self.title, true, 300);
        v.finish()
    }

    /// Applies a patch to a task, producing the full new state to validate and store.
    #[must_use]
    pub fn patched(task: &Task, patch: TaskPatch) -> Self {
        Self {
            title: patch.title.unwrap_or_else(|| task.title.clone()),
            status: patch.status.unwrap_or(task.status),
            priority: patch.priority.unwrap_or(task.priority),
            due_at: patch.due_at.apply(task.due_at),
            assignee_id: patch.assignee_id.apply(task.assignee_id),
            person_id: patch.person_id.apply(task.person_id),
            company_id: patch.company_id.apply(task.company_id),
            deal_id: patch.deal_id.apply(task.deal_id),
        }
    }
}
