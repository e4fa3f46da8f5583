-- Search (GET /api/v1/search) on SQLite: an FTS5 index with the trigram tokenizer over each live
-- person's, company's and deal's search text (its words lowercased, each preceded by a space, as
-- Postgres's search_text column), kept by triggers in the transaction of every write; existing rows are indexed
-- below. `search_docs` maps an index row (`doc`, its rowid) to its record, so a trigger finds
-- the row to drop by key rather than by scanning the index. A migration that rebuilds one of
-- the three tables must create its triggers again.
CREATE TABLE search_docs (
    doc     INTEGER PRIMARY KEY,
    org_id  BLOB NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('person', 'company', 'deal')),
    id      BLOB NOT NULL,
    UNIQUE (org_id, kind, id)
);
CREATE VIRTUAL TABLE search_fts USING fts5(body, tokenize = 'trigram');

CREATE TRIGGER people_search_insert AFTER INSERT ON people BEGIN
    INSERT INTO search_docs (org_id, kind, id) SELECT NEW.org_id, 'person', NEW.id WHERE NEW.deleted_at IS NULL;
    INSERT INTO search_fts (rowid, body) SELECT doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(coalesce(NEW.first_name, '') || ' ' || coalesce(NEW.last_name, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '') || ' ' || NEW.additional_emails || ' ' || NEW.additional_phones, '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' ')) FROM search_docs WHERE org_id = NEW.org_id AND kind = 'person' AND id = NEW.id;
END;
CREATE TRIGGER people_search_update AFTER UPDATE ON people BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT doc FROM search_docs WHERE org_id = OLD.org_id AND kind = 'person' AND id = OLD.id);
    DELETE FROM search_docs WHERE org_id = OLD.org_id AND kind = 'person' AND id = OLD.id;
    INSERT INTO search_docs (org_id, kind, id) SELECT NEW.org_id, 'person', NEW.id WHERE NEW.deleted_at IS NULL;
    INSERT INTO search_fts (rowid, body) SELECT doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(coalesce(NEW.first_name, '') || ' ' || coalesce(NEW.last_name, '') || ' ' || coalesce(NEW.email, '') || ' ' || coalesce(NEW.phone, '') || ' ' || NEW.additional_emails || ' ' || NEW.additional_phones, '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' ')) FROM search_docs WHERE org_id = NEW.org_id AND kind = 'person' AND id = NEW.id;
END;
CREATE TRIGGER people_search_delete AFTER DELETE ON people BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT doc FROM search_docs WHERE org_id = OLD.org_id AND kind = 'person' AND id = OLD.id);
    DELETE FROM search_docs WHERE org_id = OLD.org_id AND kind = 'person' AND id = OLD.id;
END;

CREATE TRIGGER companies_search_insert AFTER INSERT ON companies BEGIN
    INSERT INTO search_docs (org_id, kind, id) SELECT NEW.org_id, 'company', NEW.id WHERE NEW.deleted_at IS NULL;
    INSERT INTO search_fts (rowid, body) SELECT doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(NEW.name || ' ' || coalesce(NEW.domain, ''), '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' ')) FROM search_docs WHERE org_id = NEW.org_id AND kind = 'company' AND id = NEW.id;
END;
CREATE TRIGGER companies_search_update AFTER UPDATE ON companies BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT doc FROM search_docs WHERE org_id = OLD.org_id AND kind = 'company' AND id = OLD.id);
    DELETE FROM search_docs WHERE org_id = OLD.org_id AND kind = 'company' AND id = OLD.id;
    INSERT INTO search_docs (org_id, kind, id) SELECT NEW.org_id, 'company', NEW.id WHERE NEW.deleted_at IS NULL;
    INSERT INTO search_fts (rowid, body) SELECT doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(NEW.name || ' ' || coalesce(NEW.domain, ''), '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' ')) FROM search_docs WHERE org_id = NEW.org_id AND kind = 'company' AND id = NEW.id;
END;
CREATE TRIGGER companies_search_delete AFTER DELETE ON companies BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT doc FROM search_docs WHERE org_id = OLD.org_id AND kind = 'company' AND id = OLD.id);
    DELETE FROM search_docs WHERE org_id = OLD.org_id AND kind = 'company' AND id = OLD.id;
END;

CREATE TRIGGER deals_search_insert AFTER INSERT ON deals BEGIN
    INSERT INTO search_docs (org_id, kind, id) SELECT NEW.org_id, 'deal', NEW.id WHERE NEW.deleted_at IS NULL;
    INSERT INTO search_fts (rowid, body) SELECT doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(NEW.name, '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' ')) FROM search_docs WHERE org_id = NEW.org_id AND kind = 'deal' AND id = NEW.id;
END;
CREATE TRIGGER deals_search_update AFTER UPDATE ON deals BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT doc FROM search_docs WHERE org_id = OLD.org_id AND kind = 'deal' AND id = OLD.id);
    DELETE FROM search_docs WHERE org_id = OLD.org_id AND kind = 'deal' AND id = OLD.id;
    INSERT INTO search_docs (org_id, kind, id) SELECT NEW.org_id, 'deal', NEW.id WHERE NEW.deleted_at IS NULL;
    INSERT INTO search_fts (rowid, body) SELECT doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(NEW.name, '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' ')) FROM search_docs WHERE org_id = NEW.org_id AND kind = 'deal' AND id = NEW.id;
END;
CREATE TRIGGER deals_search_delete AFTER DELETE ON deals BEGIN
    DELETE FROM search_fts WHERE rowid = (SELECT doc FROM search_docs WHERE org_id = OLD.org_id AND kind = 'deal' AND id = OLD.id);
    DELETE FROM search_docs WHERE org_id = OLD.org_id AND kind = 'deal' AND id = OLD.id;
END;

INSERT INTO search_docs (org_id, kind, id) SELECT org_id, 'person', id FROM people WHERE deleted_at IS NULL;
INSERT INTO search_docs (org_id, kind, id) SELECT org_id, 'company', id FROM companies WHERE deleted_at IS NULL;
INSERT INTO search_docs (org_id, kind, id) SELECT org_id, 'deal', id FROM deals WHERE deleted_at IS NULL;
INSERT INTO search_fts (rowid, body)
    SELECT d.doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(coalesce(r.first_name, '') || ' ' || coalesce(r.last_name, '') || ' ' || coalesce(r.email, '') || ' ' || coalesce(r.phone, '') || ' ' || r.additional_emails || ' ' || r.additional_phones, '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' '))
    FROM people r JOIN search_docs d ON d.org_id = r.org_id AND d.kind = 'person' AND d.id = r.id;
INSERT INTO search_fts (rowid, body)
    SELECT d.doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(r.name || ' ' || coalesce(r.domain, ''), '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' '))
    FROM companies r JOIN search_docs d ON d.org_id = r.org_id AND d.kind = 'company' AND d.id = r.id;
INSERT INTO search_fts (rowid, body)
    SELECT d.doc, ' ' || lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(r.name, '@', ' '), '.', ' '), '+', ' '), '-', ' '), '_', ' '), '"', ' '), '[', ' '), ']', ' '), ',', ' '), '''', ' '), '(', ' '), ')', ' '), '/', ' '), '&', ' '))
    FROM deals r JOIN search_docs d ON d.org_id = r.org_id AND d.kind = 'deal' AND d.id = r.id;
