"""Operations: planning jobs on a queue, users and API keys."""
