"""Local simulator: the real ASL and handlers in moto's Step Functions interpreter, on virtual time,
against a simulated fleet that behaves like AWS where moto does not."""
