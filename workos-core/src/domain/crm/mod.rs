//! CRM records: companies, people, deals, tasks and interactions, a module each (`money`
//! holds the flat amount and currency fields deals take), all re-exported here.

mod companies;
mod deals;
mod interactions;
mod money;
mod people;
mod tasks;

pub use companies::*;
pub use deals::*;
pub use interactions::*;
pub use money::*;
pub use people::*;
pub use tasks::*;
