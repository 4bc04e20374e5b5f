-- Issue 9: a partner's page of a customer's subscriptions counts and filters them by who placed
-- each one or is its reseller of record. With those two columns in the customer's index, the
-- count and the filter read index entries only, not each subscription's row: the page no longer
-- slows by a table lookup per subscription the customer holds.
DROP INDEX subscriptions_customer;
CREATE INDEX subscriptions_customer ON subscriptions (customer_id, id, placed_by, partner_of_record);
