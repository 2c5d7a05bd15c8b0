# Teacher LLM server: vLLM's OpenAI-compatible API in front of the profile's teacher
# model (MAGA_TEACHER_MODEL, a Hugging Face id or a folder under /models). The
# pipeline reaches it through the Airflow connection `maga_teacher`.
#
# Build from the repository root:
#   docker build -f docker/teacher.Dockerfile -t maga-teacher:0.1.0 .

FROM vllm/vllm-openai:v0.24.0

# Run as UID 50000 / group 0, like the Airflow images, so the Hugging Face cache volume
# can be shared with the GPU worker (distillation starts from the teacher's weights).
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/teacher teacher \
 && mkdir -p /models/hf \
 && chown -R teacher:0 /models \
 && chmod -R g+rwX /models

COPY docker/entrypoint-teacher.sh /usr/local/bin/maga-teacher
RUN chmod 0755 /usr/local/bin/maga-teacher

ENV HF_HOME=/models/hf
USER teacher
WORKDIR /home/teacher
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/maga-teacher"]
