-- The call reconciliation job lists, in the system scope (no tenant), the calls of every org
-- that are not final (read only: each call is then updated in its own org's scope).
CREATE POLICY system_reader ON calls FOR SELECT USING (workos_system_scope());
