-- The team's notes on a lead (PATCH /api/v1/leads/{id}); never part of what partners are sent.
ALTER TABLE leads ADD COLUMN notes text;
