"""Reading a stranger's note the way a person does: which intent it carries (a claimed meeting, a compliment, a
pitch, a purpose, a recruiter's approach or nothing but a wish to connect), how sure the reading is, and the sentence
that carries it. `reader.read_note` is the entry point; `language.detect_language` tells the note's language."""
