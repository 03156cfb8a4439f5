DROP TABLE server_secrets;
DROP TABLE account_failures;
DROP TABLE login_attempts;
