"""The bundled trainer: reads dataengine shards (through ``schemas/`` only) and trains a unified model."""
