-- `GET /events?actor=` lists one actor's events of an org, in id order.
CREATE INDEX domain_events_org_actor ON domain_events (org_id, actor_id, id);
