-- Leases that nodes sharing the database take for work only one of them
-- may do at a time (the garbage collector). A lease is held by holder until
-- expires, by the database's clock.
CREATE TABLE leases (
	name    text COLLATE "C" PRIMARY KEY,
	holder  text NOT NULL,
	expires timestamptz NOT NULL
);
