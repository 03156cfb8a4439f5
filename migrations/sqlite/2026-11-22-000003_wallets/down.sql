DROP TABLE wallets;
DROP TABLE apps;
