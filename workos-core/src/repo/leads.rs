//! Leads, fulfillment partners and lead deliveries: traits owned by the lead-gen work.
